//! Test data on the worker: fetched from the scheduler by SHA-256, verified, stored under its
//! hash. Concurrent requests for one file share one download; a broken transfer resumes from
//! where it stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use judge_common::auth::Bearer;
use judge_common::pb;
use judge_common::pb::worker_service_client::WorkerServiceClient;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The worker's client of the scheduler.
pub type Client = WorkerServiceClient<InterceptedService<Channel, Bearer>>;

/// Transfers that break are resumed this many times before the file counts as unavailable.
const MAX_RESUMES: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("bad file reference {0:?}")]
    BadRef(String),
    #[error("download of {sha256} failed: {status}")]
    Fetch {
        sha256: String,
        status: tonic::Status,
    },
    #[error("download of {0} does not match its SHA-256")]
    Corrupt(String),
    #[error("local i/o error: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone)]
pub struct FileStore {
    dir: PathBuf,
    client: Client,
    /// One lock per file being fetched, so concurrent jobs download it once.
    inflight: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

fn valid_sha(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl FileStore {
    pub fn new(dir: PathBuf, client: Client) -> std::io::Result<FileStore> {
        std::fs::create_dir_all(dir.join("tmp"))?;
        Ok(FileStore {
            dir,
            client,
            inflight: Default::default(),
        })
    }

    /// Local path of the file, fetching it first if needed.
    pub async fn get(&self, file: &pb::FileRef) -> Result<PathBuf, FileError> {
        if !valid_sha(&file.sha256) {
            return Err(FileError::BadRef(file.sha256.clone()));
        }
        let path = self.dir.join(&file.sha256);
        if tokio::fs::try_exists(&path).await? {
            return Ok(path);
        }
        let lock = {
            let mut map = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(file.sha256.clone()).or_default().clone()
        };
        let _guard = lock.lock().await;
        // Whoever held the lock before us may have fetched it already.
        if !tokio::fs::try_exists(&path).await? {
            self.fetch(&file.sha256, &path).await?;
        }
        self.inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&file.sha256);
        Ok(path)
    }

    async fn fetch(&self, sha256: &str, dest: &Path) -> Result<(), FileError> {
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("{sha256}.{:08x}", rand::random::<u32>()));
        let result = self.download(sha256, &tmp).await;
        match result {
            Ok(()) => Ok(tokio::fs::rename(&tmp, dest).await?),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    async fn download(&self, sha256: &str, tmp: &Path) -> Result<(), FileError> {
        let mut out = tokio::fs::File::create(tmp).await?;
        let mut hasher = Sha256::new();
        let mut offset = 0u64;
        let mut resumes = 0;
        loop {
            let req = pb::FetchFileRequest {
                sha256: sha256.to_string(),
                offset,
            };
            let attempt: Result<(), tonic::Status> = async {
                let mut stream = self.client.clone().fetch_file(req).await?.into_inner();
                while let Some(chunk) = stream.message().await? {
                    if chunk.offset != offset {
                        return Err(tonic::Status::data_loss("chunk out of order"));
                    }
                    hasher.update(&chunk.data);
                    out.write_all(&chunk.data)
                        .await
                        .map_err(|e| tonic::Status::internal(e.to_string()))?;
                    offset += chunk.data.len() as u64;
                    if offset >= chunk.total_size {
                        return Ok(());
                    }
                }
                Err(tonic::Status::unavailable("transfer ended early"))
            }
            .await;
            match attempt {
                Ok(()) => break,
                Err(status) if resumes < MAX_RESUMES && status.code() != tonic::Code::NotFound => {
                    resumes += 1;
                    tracing::warn!(sha256, offset, %status, "transfer broke; resuming");
                    tokio::time::sleep(std::time::Duration::from_millis(200 * u64::from(resumes)))
                        .await;
                }
                Err(status) => {
                    return Err(FileError::Fetch {
                        sha256: sha256.to_string(),
                        status,
                    })
                }
            }
        }
        out.flush().await?;
        out.sync_all().await?;
        if hex::encode(hasher.finalize()) != sha256 {
            return Err(FileError::Corrupt(sha256.to_string()));
        }
        Ok(())
    }
}
