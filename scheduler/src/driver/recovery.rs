//! Rebuilding the core from the store: at start, and after a write the disk had no room for.
//!
//! The store is the truth and the core a cache of it, so the core can always be thrown away
//! and built again from the unfinished jobs. Only reads happen here, which is what lets the
//! scheduler start (and carry on) on a full disk.

use std::collections::HashMap;
use std::sync::Arc;

use super::storage::Storage;
use crate::core::deadline::attempt_worst_case_ms;
use crate::core::{Core, CoreConfig, Event, JobId, Millis};
use crate::live::catalog::{gone_message, Catalog, ProblemVersion};
use crate::store::StoreError;

/// What a driver starts from.
pub struct Rebuilt {
    /// Every unfinished job of the store.
    pub core: Core,
    /// Events to apply first: jobs whose problem version is gone, which end as judge errors
    /// once the driver runs instead of keeping the scheduler from starting, and whatever the
    /// core's own rules end at a restart.
    pub first: Vec<Event>,
    /// The problem version of each unfinished judge job, looked up once here.
    pub problems: HashMap<JobId, Arc<ProblemVersion>>,
}

/// Builds the core again from the store's unfinished jobs.
pub async fn rebuild(
    store: &impl Storage,
    catalog: &Catalog,
    config: CoreConfig,
    now: Millis,
) -> Result<Rebuilt, StoreError> {
    let mut unfinished = store.unfinished().await?;
    let mut first = Vec::new();
    let mut problems = HashMap::new();
    for job in &mut unfinished {
        let Some((id, version)) = job.job.spec.problem() else {
            // A run or a console needs no files; its worst case follows from its spec.
            job.worst_case_ms = attempt_worst_case_ms(&job.job.spec, 0);
            continue;
        };
        match catalog.version(id, version).await? {
            Some(v) => {
                job.files = v.files.clone();
                job.worst_case_ms = v.worst_case_ms;
                problems.insert(job.job_id, v);
            }
            None => first.push(Event::Abandon {
                job_id: job.job_id,
                reason: gone_message(id, version),
            }),
        }
    }
    tracing::info!(
        unfinished = unfinished.len(),
        "state rebuilt from the store"
    );
    let (core, ended) = Core::recover(config, store.max_job_id().await?, unfinished, now);
    first.extend(ended);
    Ok(Rebuilt {
        core,
        first,
        problems,
    })
}
