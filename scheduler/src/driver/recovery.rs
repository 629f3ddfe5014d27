//! Rebuilding the core from the store: at start, and after a write the disk had no room for.
//!
//! The store is the truth and the core a cache of it, so the core can always be thrown away
//! and built again from the unfinished jobs. Only reads happen here, which is what lets the
//! scheduler start (and carry on) on a full disk.

use crate::core::{Core, CoreConfig, Event, Millis};
use crate::live::catalog::{gone_message, Catalog};
use crate::store::{Store, StoreError};

/// A core holding every unfinished job of the store, and the events to apply first: jobs
/// whose problem version is gone, which end as judge errors once the driver runs instead of
/// keeping the scheduler from starting, and whatever the core's own rules end at a restart.
pub async fn rebuild(
    store: &Store,
    catalog: &Catalog,
    config: CoreConfig,
    now: Millis,
) -> Result<(Core, Vec<Event>), StoreError> {
    let mut unfinished = store.unfinished().await?;
    let mut abandoned = Vec::new();
    for job in &mut unfinished {
        if job.job.is_live() {
            // The core ends it (`Core::recover`): no files to look up.
            continue;
        }
        if let Some(limits) = &job.job.run_limits {
            // A run job needs no files; its worst case follows from its limits.
            job.worst_case_ms = crate::core::deadline::run_worst_case_ms(limits);
            continue;
        }
        let (id, version) = (&job.job.problem_id, job.job.problem_version);
        match catalog.version(id, version).await? {
            Some(v) => {
                job.files = v.files.clone();
                job.worst_case_ms = v.worst_case_ms;
            }
            None => abandoned.push(Event::Abandon {
                job_id: job.job_id,
                reason: gone_message(id, version),
            }),
        }
    }
    tracing::info!(
        unfinished = unfinished.len(),
        "state rebuilt from the store"
    );
    let (core, first) = Core::recover(config, store.max_job_id().await?, unfinished, now);
    abandoned.extend(first);
    Ok((core, abandoned))
}
