//! `AdminService`: problem upload and worker drain.

use std::collections::BTreeMap;

use judge_common::pb;
use judge_common::pb::admin_service_server::AdminService;
use judge_common::problem::{build_manifest, is_small_file, valid_path, PackageFile};
use tonic::{Request, Response, Status, Streaming};

use super::check_ident;
use crate::driver::DriverHandle;
use crate::store::blobs::{BlobStore, BlobWriter, StagedBlob};
use crate::store::Store;

/// The largest file read as text to decide the manifest (problem.yaml, group settings...).
const SMALL_FILE_MAX: u64 = 1 << 20;

pub struct AdminApi {
    pub catalog: crate::live::catalog::Catalog,
    pub driver: DriverHandle,
    pub store: Store,
    pub blobs: BlobStore,
}

fn io_status(e: std::io::Error) -> Status {
    super::io_status("storing the file failed", e)
}

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
    ) -> Result<(), Status> {
        use pb::push_problem_request::Item;
        match item {
            Item::Header(h) => {
                if self.header.is_some() {
                    return Err(Status::invalid_argument("a second header in one upload"));
                }
                check_ident("problem id", &h.id)?;
                if let Some(t) = h.time_limit_seconds {
                    judge_common::limits::TIME_LIMIT
                        .check(Some(t))
                        .map_err(|e| {
                            Status::invalid_argument(format!("time_limit_seconds: {e}"))
                        })?;
                }
                self.header = Some(h);
            }
            Item::File(f) => {
                if self.header.is_none() {
                    return Err(Status::invalid_argument(
                        "the first message must be the header",
                    ));
                }
                if !valid_path(&f.path) {
                    return Err(Status::invalid_argument(format!(
                        "{:?}: bad path (relative, '/'-separated, no '..')",
                        f.path
                    )));
                }
                let writer = match self.current.take() {
                    Some((path, w)) if path == f.path => w,
                    Some((path, _)) => {
                        return Err(Status::invalid_argument(format!(
                            "{}: chunks of {path} not finished (set `last` on its final chunk)",
                            f.path
                        )))
                    }
                    None if self.staged.contains_key(&f.path) => {
                        return Err(Status::invalid_argument(format!("{}: sent twice", f.path)))
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
        Status,
    > {
        let header = self
            .header
            .clone()
            .ok_or_else(|| Status::invalid_argument("empty upload: no header"))?;
        if let Some((path, _)) = &self.current {
            return Err(Status::invalid_argument(format!(
                "{path}: upload ended before its last chunk"
            )));
        }
        let mut small = BTreeMap::new();
        for (name, b) in &self.staged {
            if is_small_file(name) {
                if b.size > SMALL_FILE_MAX {
                    return Err(Status::invalid_argument(format!(
                        "{name} is {} bytes; at most {SMALL_FILE_MAX} bytes are read",
                        b.size
                    )));
                }
                let text = b.read_to_string().await.map_err(|e| {
                    Status::invalid_argument(format!("{name}: not UTF-8 text ({e})"))
                })?;
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
        .map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok((header, manifest, files))
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn push_problem(
        &self,
        req: Request<Streaming<pb::PushProblemRequest>>,
    ) -> Result<Response<pb::PushProblemResponse>, Status> {
        Ok(Response::new(self.push(req.into_inner()).await?))
    }

    async fn drain_worker(
        &self,
        req: Request<pb::DrainWorkerRequest>,
    ) -> Result<Response<pb::DrainWorkerResponse>, Status> {
        let name = req.into_inner().name;
        check_ident("worker name", &name)?;
        if self.driver.drain(name.clone()).await? {
            Ok(Response::new(pb::DrainWorkerResponse {}))
        } else {
            Err(Status::not_found(format!(
                "no connected worker named {name:?}"
            )))
        }
    }
}

impl AdminApi {
    /// Stores a pushed package: a header, then its files' chunks (the gRPC stream, or an
    /// archive uploaded over HTTP, translated).
    pub async fn push(
        &self,
        mut stream: impl tokio_stream::Stream<Item = Result<pb::PushProblemRequest, Status>> + Unpin,
    ) -> Result<pb::PushProblemResponse, Status> {
        use tokio_stream::StreamExt;
        let mut upload = Upload::default();
        let received: Result<(), Status> = async {
            while let Some(msg) = stream.next().await.transpose()? {
                let item = msg
                    .item
                    .ok_or_else(|| Status::invalid_argument("empty upload message"))?;
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
            blob.commit().await.map_err(io_status)?;
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
    ) -> Result<Vec<String>, Status> {
        use crate::service::program_check::{check, BuildLimits, CheckError};
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
                    return Err(Status::invalid_argument(e.to_string()))
                }
                Err(CheckError::Io { what, source }) => {
                    return Err(super::io_status(&format!("trying to build {what}"), source))
                }
            }
        }
        Ok(notes)
    }
}
