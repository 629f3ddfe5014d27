//! The driver's one I/O seam, as raft-rs's `Storage` is: what it reads and writes of the
//! store. The scheduler runs it on [`Store`] (SQLite or PostgreSQL); tests put a store
//! that fails on command in front of a real one, to see a refused batch send nothing.

use std::collections::HashMap;
use std::future::Future;

use crate::core::{JobId, Persist, RecoveredJob, RequestId};
use crate::store::{AssignPayload, Payload, Store, StoreError};

/// What the driver needs of the store.
pub trait Storage: Send + Sync + 'static {
    /// Writes one batch's changes in one transaction: all of them, or none (then the error
    /// says why, [`StoreError::DiskFull`] for a disk with no room).
    fn persist(
        &self,
        changes: &[&Persist],
        sources: &HashMap<RequestId, Payload>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sources and settings of the given jobs, for their assignments.
    fn assign_payloads(
        &self,
        ids: &[JobId],
    ) -> impl Future<Output = Result<HashMap<JobId, AssignPayload>, StoreError>> + Send;

    /// Every unfinished job, with its progress, to rebuild the core from.
    fn unfinished(&self) -> impl Future<Output = Result<Vec<RecoveredJob>, StoreError>> + Send;

    /// The highest job id ever given out: numbering goes on above it.
    fn max_job_id(&self) -> impl Future<Output = Result<JobId, StoreError>> + Send;
}

impl Storage for Store {
    async fn persist(
        &self,
        changes: &[&Persist],
        sources: &HashMap<RequestId, Payload>,
    ) -> Result<(), StoreError> {
        Store::persist(self, changes, sources).await
    }

    async fn assign_payloads(
        &self,
        ids: &[JobId],
    ) -> Result<HashMap<JobId, AssignPayload>, StoreError> {
        Store::assign_payloads(self, ids).await
    }

    async fn unfinished(&self) -> Result<Vec<RecoveredJob>, StoreError> {
        Store::unfinished(self).await
    }

    async fn max_job_id(&self) -> Result<JobId, StoreError> {
        Store::max_job_id(self).await
    }
}
