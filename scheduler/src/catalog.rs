//! What the scheduler keeps in memory about problems: the newest version of each (so `Submit`
//! needs no query) and the files each version's jobs need (for routing by locality). Problem
//! versions never change once stored, so entries never go stale; a push adds one.
//! (One scheduler per store: a second scheduler's pushes would not show here.)

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use judge_common::pb;

use crate::core::JobFiles;
use crate::store::{Result, Store};

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    latest: Arc<RwLock<HashMap<String, u32>>>,
    files: Arc<RwLock<HashMap<(String, u32), JobFiles>>>,
}

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
    /// Records a newly pushed version.
    pub fn pushed(&self, id: &str, version: u32) {
        let mut map = self.latest.write().unwrap_or_else(|p| p.into_inner());
        let v = map.entry(id.to_string()).or_default();
        *v = (*v).max(version);
    }

    /// The newest version of problem `id`, if it exists.
    pub async fn latest(&self, store: &Store, id: &str) -> Result<Option<u32>> {
        if let Some(v) = self
            .latest
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok(Some(*v));
        }
        let found = store.latest_version(id).await?;
        if let Some(v) = found {
            self.pushed(id, v);
        }
        Ok(found)
    }

    /// The files a job of this problem version needs.
    pub async fn files(&self, store: &Store, id: &str, version: u32) -> Result<JobFiles> {
        let key = (id.to_string(), version);
        if let Some(f) = self
            .files
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(f.clone());
        }
        let files = job_files(&store.problem_spec(id, version).await?);
        self.files
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, files.clone());
        Ok(files)
    }
}
