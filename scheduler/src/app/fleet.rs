//! The fleet and the catalog as people see them: workers, problems, draining a worker and
//! lifting its quarantine.

use judge_common::pb;

use super::{check_ident, App, AppError};

impl App {
    /// Every worker the scheduler knows of, connected or lately gone.
    pub async fn list_workers(&self) -> Result<Vec<pb::WorkerInfo>, AppError> {
        let snaps = self.driver.list_workers().await?;
        Ok(snaps
            .into_iter()
            .map(|w| pb::WorkerInfo {
                name: w.name,
                connected: w.connected,
                slots: w.slots,
                running: w.running,
                job_types: w.job_types,
                languages: w.languages,
                cpu_percent: w.usage.cpu_percent,
                memory_free_bytes: w.usage.memory_free_bytes,
                disk_free_bytes: w.usage.disk_free_bytes,
                draining: w.draining,
                cached_bytes: w.cache.cached_bytes,
                cache_size_bytes: w.cache.cache_size_bytes,
                fetched_bytes: w.cache.fetched_bytes,
                cache_hits: w.cache.hits,
                cache_misses: w.cache.misses,
                evictions: w.cache.evictions,
                quarantined: w.quarantined.unwrap_or_default(),
            })
            .collect())
    }

    /// Every problem's newest version.
    pub async fn list_problems(&self) -> Result<Vec<pb::ProblemInfo>, AppError> {
        Ok(self
            .store
            .problems()
            .await?
            .into_iter()
            .map(|p| pb::ProblemInfo {
                id: p.id,
                version: p.version,
                name: p.name,
                test_count: p.test_count,
                time_limit_ms: p.time_limit_ms,
                total_bytes: p.total_bytes,
                kind: p.kind,
            })
            .collect())
    }

    /// Lifts the quarantine of the worker `name`: it gets jobs again.
    pub async fn release_worker(&self, name: &str) -> Result<(), AppError> {
        check_ident("worker name", name)?;
        if self.driver.release(name.to_string()).await? {
            tracing::info!(worker = name, "quarantine lifted by an admin");
            Ok(())
        } else {
            Err(AppError::Precondition(format!(
                "worker {name:?} is not quarantined"
            )))
        }
    }

    /// Tells the connected worker `name` to finish its jobs and take no more.
    pub async fn drain_worker(&self, name: &str) -> Result<(), AppError> {
        check_ident("worker name", name)?;
        if self.driver.drain(name.to_string()).await? {
            Ok(())
        } else {
            Err(AppError::NotFound(format!(
                "no connected worker named {name:?}"
            )))
        }
    }
}
