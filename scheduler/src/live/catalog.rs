//! The one place the scheduler keeps problem data in memory: the newest version of each
//! problem (so `Submit` needs no query) and, per version, its spec (what an `Assign` carries)
//! and its files (what routing by locality looks at).
//!
//! A version never changes once stored, so a cached version never goes stale; a push makes a
//! new one and must call [`Catalog::pushed`], or `Submit` would keep using the old one. A
//! version that gc pruned from the store is still served from here if it was cached, and is
//! `None` otherwise: the job that wanted it ends as a judge error instead of stopping the
//! scheduler. (One scheduler per store: another scheduler's pushes would not show here.)

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use judge_common::pb;

use crate::core::deadline::worst_case_ms;
use crate::core::{JobFiles, Millis};
use crate::store::{Result, Store, StoreError};

/// One stored version of a problem.
#[derive(Debug)]
pub struct ProblemVersion {
    pub version: u32,
    pub spec: Arc<pb::ProblemSpec>,
    pub files: JobFiles,
    /// The longest an attempt can take (see [`worst_case_ms`]).
    pub worst_case_ms: Millis,
}

#[derive(Debug, Clone)]
pub struct Catalog {
    store: Store,
    latest: Arc<RwLock<HashMap<String, u32>>>,
    versions: Arc<RwLock<HashMap<VersionKey, Arc<ProblemVersion>>>>,
}

/// A problem id and version.
type VersionKey = (String, u32);

/// The distinct files of a problem version with their sizes.
pub fn job_files(spec: &pb::ProblemSpec) -> JobFiles {
    let mut seen = std::collections::BTreeMap::new();
    for t in &spec.tests {
        for f in [&t.input, &t.answer].into_iter().flatten() {
            seen.insert(f.sha256.clone(), f.size);
        }
    }
    for f in spec
        .output_validator
        .iter()
        .flat_map(|v| &v.files)
        .filter_map(|f| f.file.as_ref())
    {
        seen.insert(f.sha256.clone(), f.size);
    }
    seen.into_iter().collect::<Vec<_>>().into()
}

impl Catalog {
    pub fn new(store: Store) -> Self {
        Catalog {
            store,
            latest: Default::default(),
            versions: Default::default(),
        }
    }

    /// Records a newly pushed version: jobs submitted from now on use it.
    pub fn pushed(&self, id: &str, version: u32) {
        let mut map = self.latest.write().unwrap_or_else(|p| p.into_inner());
        let v = map.entry(id.to_string()).or_default();
        *v = (*v).max(version);
    }

    /// The newest version of problem `id`, if it exists.
    pub async fn latest(&self, id: &str) -> Result<Option<u32>> {
        if let Some(v) = self
            .latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok(Some(*v));
        }
        let found = self.store.latest_version(id).await?;
        if let Some(v) = found {
            self.pushed(id, v);
        }
        Ok(found)
    }

    /// The newest version of problem `id`, if it exists: what a new job is judged on.
    pub async fn current(&self, id: &str) -> Result<Option<Arc<ProblemVersion>>> {
        match self.latest(id).await? {
            Some(version) => self.version(id, version).await,
            None => Ok(None),
        }
    }

    /// A version of a problem; `None` if the store no longer has it (pruned) and it was not
    /// cached.
    pub async fn version(&self, id: &str, version: u32) -> Result<Option<Arc<ProblemVersion>>> {
        let key = (id.to_string(), version);
        if let Some(v) = self
            .versions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Some(v.clone()));
        }
        let spec = match self.store.problem_spec(id, version).await {
            Ok(spec) => spec,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let files = job_files(&spec);
        let entry = Arc::new(ProblemVersion {
            version,
            worst_case_ms: worst_case_ms(&spec, &files),
            files,
            spec: Arc::new(spec),
        });
        self.versions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, entry.clone());
        Ok(Some(entry))
    }
}

/// Why a job whose problem version is gone cannot run.
pub fn gone_message(problem: &str, version: u32) -> String {
    format!(
        "problem {problem:?} version {version} is no longer stored (removed by gc); submit again"
    )
}
