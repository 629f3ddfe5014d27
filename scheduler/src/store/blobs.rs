//! Test data on disk, content addressed: `<data-dir>/blobs/<aa>/<sha256>`.
//!
//! Writes stream through a temporary file while hashing, then rename into place, so a blob
//! that exists under its name is always complete and correct. Identical files across problems
//! and versions are stored once.
//!
//! On PostgreSQL the database holds every file too (`blob_rows.rs`), stored before the file
//! takes its name here, so that a scheduler that takes over serves files another pushed: the
//! directory is then a cache, filled from the rows on first use ([`BlobStore::local`]).

use std::path::{Path, PathBuf};

use super::Store;

use sha2::{Digest, Sha256};
use tokio::fs;
use tokio::io::AsyncWriteExt;

/// The blob directory.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    /// The shared database that holds every file, when there is one.
    db: Option<Store>,
}

/// A blob being written. Dropped unfinished, it deletes its partial file.
pub struct BlobWriter {
    file: fs::File,
    /// `None` once handed on to a [`StagedBlob`].
    tmp: Option<PathBuf>,
    root: PathBuf,
    db: Option<Store>,
    hasher: Sha256,
    size: u64,
}

/// Whether `s` looks like a hex SHA-256 (and so is safe to use as a file name).
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl BlobStore {
    /// The directory `root`, created if needed.
    pub async fn open(root: impl Into<PathBuf>) -> std::io::Result<BlobStore> {
        let root = root.into();
        fs::create_dir_all(root.join("tmp")).await?;
        Ok(BlobStore { root, db: None })
    }

    /// This directory as a cache of `store`'s files, when the store is shared (PostgreSQL).
    pub fn backed_by(mut self, store: &Store) -> BlobStore {
        self.db = store.is_shared().then(|| store.clone());
        self
    }

    /// The blob's file here, copied from the shared database first if this scheduler has
    /// not held it yet; `None` if no such blob is stored.
    pub async fn local(&self, sha256: &str) -> std::io::Result<Option<PathBuf>> {
        let path = self.path(sha256);
        if fs::try_exists(&path).await? {
            return Ok(Some(path));
        }
        let Some(db) = &self.db else {
            return Ok(None);
        };
        // Through a writer, which hashes what came out of the database before it takes
        // the name (and deletes its file if anything goes wrong on the way).
        let mut writer = self.writer().await?;
        let mut idx = 0;
        while let Some(chunk) = db
            .blob_chunk(sha256, idx)
            .await
            .map_err(std::io::Error::other)?
        {
            writer.write(&chunk).await?;
            idx += 1;
        }
        if idx == 0 {
            return Ok(None);
        }
        let staged = writer.finish().await?;
        if staged.sha256 != sha256 {
            return Err(std::io::Error::other(format!(
                "the database's copy of blob {sha256} does not match its hash"
            )));
        }
        staged.place().await?;
        Ok(Some(path))
    }

    /// Where the blob with this hash lives. The caller checks [`is_sha256`] first.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2]).join(sha256)
    }

    pub async fn writer(&self) -> std::io::Result<BlobWriter> {
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{:016x}", rand::random::<u64>()));
        Ok(BlobWriter {
            file: fs::File::create(&tmp).await?,
            tmp: Some(tmp),
            root: self.root.clone(),
            db: self.db.clone(),
            hasher: Sha256::new(),
            size: 0,
        })
    }

    /// Size of the stored blob, or `None` if there is none.
    pub async fn size(&self, sha256: &str) -> Option<u64> {
        fs::metadata(self.path(sha256)).await.ok().map(|m| m.len())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The shared database holding the files, if any.
    pub fn shared(&self) -> Option<&Store> {
        self.db.as_ref()
    }
}

impl BlobWriter {
    pub async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.hasher.update(data);
        self.size += data.len() as u64;
        self.file.write_all(data).await
    }

    /// Flushes and hashes the file. It stays staged (invisible) until [`StagedBlob::commit`],
    /// so a push that turns out malformed leaves nothing behind.
    pub async fn finish(mut self) -> std::io::Result<StagedBlob> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        Ok(StagedBlob {
            sha256: hex::encode(self.hasher.finalize_reset()),
            size: self.size,
            tmp: self.tmp.take(),
            root: self.root.clone(),
            db: self.db.clone(),
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// A complete, hashed file not yet under its name. Dropped uncommitted, it deletes itself.
#[derive(Debug)]
pub struct StagedBlob {
    pub sha256: String,
    pub size: u64,
    /// `None` once committed.
    tmp: Option<PathBuf>,
    root: PathBuf,
    db: Option<Store>,
}

impl StagedBlob {
    /// Moves the file to its content address (replacing an identical copy is harmless),
    /// after storing it in the shared database, if any.
    pub async fn commit(self, now_ms: i64) -> std::io::Result<()> {
        if let Some(db) = &self.db {
            let tmp = self
                .tmp
                .as_ref()
                .ok_or_else(|| std::io::Error::other("blob already committed"))?;
            if let Err(e) = db.put_blob_rows(&self.sha256, tmp, now_ms).await {
                // Dropped, the staged file deletes itself.
                return Err(match e {
                    super::StoreError::DiskFull(why) => {
                        std::io::Error::new(std::io::ErrorKind::StorageFull, why)
                    }
                    e => std::io::Error::other(e),
                });
            }
        }
        self.place().await
    }

    /// Moves the file to its content address here, and nowhere else.
    async fn place(mut self) -> std::io::Result<()> {
        let dir = self.root.join(&self.sha256[..2]);
        fs::create_dir_all(&dir).await?;
        let tmp = self
            .tmp
            .take()
            .ok_or_else(|| std::io::Error::other("blob already committed"))?;
        fs::rename(&tmp, dir.join(&self.sha256)).await
    }

    /// Copies the staged file to `dest` (to try a package's program before storing it).
    pub async fn copy_to(&self, dest: &Path) -> std::io::Result<()> {
        let tmp = self
            .tmp
            .as_ref()
            .ok_or_else(|| std::io::Error::other("blob already committed"))?;
        fs::copy(tmp, dest).await.map(|_| ())
    }

    pub async fn read_to_string(&self) -> std::io::Result<String> {
        let tmp = self
            .tmp
            .as_ref()
            .ok_or_else(|| std::io::Error::other("blob already committed"))?;
        fs::read_to_string(tmp).await
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}
