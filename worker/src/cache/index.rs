//! The cache's bookkeeping, without I/O: which files it holds, how big, when last used, which
//! a running job pins, and what to evict to make room. Downloads reserve their size first, so
//! concurrent downloads never push the cache past its budget.

use std::collections::HashMap;

#[derive(Debug, Clone)]
struct Entry {
    size: u64,
    last_used: u64,
    pins: u32,
}

/// Why room could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoRoom {
    #[error("the file is {size} bytes, larger than the whole cache ({budget} bytes)")]
    TooBig { size: u64, budget: u64 },
    #[error("{needed} bytes needed but files pinned by running jobs fill the cache")]
    Pinned { needed: u64 },
}

#[derive(Debug)]
pub struct CacheIndex {
    budget: u64,
    entries: HashMap<String, Entry>,
    /// Bytes held by complete files.
    used: u64,
    /// Bytes promised to downloads in progress.
    reserved: u64,
    clock: u64,
    /// Changes not yet reported to the scheduler.
    added: Vec<String>,
    removed: Vec<String>,
}

impl CacheIndex {
    pub fn new(budget: u64) -> Self {
        CacheIndex {
            budget,
            entries: HashMap::new(),
            used: 0,
            reserved: 0,
            clock: 0,
            added: Vec::new(),
            removed: Vec::new(),
        }
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    pub fn used(&self) -> u64 {
        self.used
    }

    pub fn contains(&self, sha: &str) -> bool {
        self.entries.contains_key(sha)
    }

    /// Marks the file used now and pins it; `false` if it is not here.
    pub fn pin(&mut self, sha: &str) -> bool {
        self.clock += 1;
        match self.entries.get_mut(sha) {
            Some(e) => {
                e.last_used = self.clock;
                e.pins += 1;
                true
            }
            None => false,
        }
    }

    pub fn unpin(&mut self, sha: &str) {
        if let Some(e) = self.entries.get_mut(sha) {
            e.pins = e.pins.saturating_sub(1);
        }
    }

    /// Reserves `size` bytes for a download, choosing unpinned files to evict, least recently
    /// used first. The victims are already forgotten here; the caller deletes them from disk.
    pub fn reserve(&mut self, size: u64) -> Result<Vec<String>, NoRoom> {
        if size > self.budget {
            return Err(NoRoom::TooBig {
                size,
                budget: self.budget,
            });
        }
        // Decide first, then change anything: a refusal leaves the index as it was.
        let mut free = self.budget.saturating_sub(self.used + self.reserved);
        let mut candidates: Vec<(&String, &Entry)> =
            self.entries.iter().filter(|(_, e)| e.pins == 0).collect();
        candidates.sort_by_key(|(_, e)| e.last_used);
        let mut victims = Vec::new();
        for (sha, e) in candidates {
            if free >= size {
                break;
            }
            free += e.size;
            victims.push(sha.clone());
        }
        if free < size {
            return Err(NoRoom::Pinned { needed: size });
        }
        for sha in &victims {
            self.forget(sha);
        }
        self.reserved += size;
        Ok(victims)
    }

    /// A reserved download finished: the file is in, pinned once for its requester.
    pub fn complete(&mut self, sha: &str, reserved: u64, size: u64) {
        self.reserved = self.reserved.saturating_sub(reserved);
        self.insert(sha, size);
        self.pin(sha);
    }

    /// A reserved download failed.
    pub fn cancel(&mut self, reserved: u64) {
        self.reserved = self.reserved.saturating_sub(reserved);
    }

    /// Adds a file found on disk (at start-up) or just downloaded.
    pub fn insert(&mut self, sha: &str, size: u64) {
        self.clock += 1;
        if self
            .entries
            .insert(
                sha.to_string(),
                Entry {
                    size,
                    last_used: self.clock,
                    pins: 0,
                },
            )
            .is_none()
        {
            self.used += size;
            self.added.push(sha.to_string());
        }
    }

    /// Drops a file (evicted, or found corrupt).
    pub fn forget(&mut self, sha: &str) {
        if let Some(e) = self.entries.remove(sha) {
            self.used -= e.size;
            self.removed.push(sha.to_string());
        }
    }

    /// Every file held.
    pub fn inventory(&self) -> Vec<String> {
        let mut v: Vec<String> = self.entries.keys().cloned().collect();
        v.sort();
        v
    }

    /// Changes since the last call: `(added, removed)`.
    pub fn take_delta(&mut self) -> (Vec<String>, Vec<String>) {
        (
            std::mem::take(&mut self.added),
            std::mem::take(&mut self.removed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_budget() {
        let mut ix = CacheIndex::new(100);
        ix.insert("a", 40);
        ix.insert("b", 40);
        ix.pin("a"); // a is now the most recently used
        ix.unpin("a");
        let victims = ix.reserve(30).unwrap();
        assert_eq!(victims, ["b"]);
        ix.complete("c", 30, 30);
        assert_eq!(ix.used(), 70);
        assert!(ix.used() <= ix.budget());
    }

    #[test]
    fn pinned_files_are_never_evicted() {
        let mut ix = CacheIndex::new(100);
        ix.insert("a", 60);
        ix.insert("b", 30);
        assert!(ix.pin("a"));
        assert_eq!(ix.reserve(50), Err(NoRoom::Pinned { needed: 50 }));
        assert!(ix.contains("a"));
        ix.unpin("a");
        assert_eq!(
            ix.reserve(50).unwrap().len(),
            2,
            "unpinned, both go (LRU first)"
        );
    }

    #[test]
    fn reservations_count_against_the_budget() {
        let mut ix = CacheIndex::new(100);
        ix.reserve(60).unwrap();
        assert_eq!(
            ix.reserve(50),
            Err(NoRoom::Pinned { needed: 50 }),
            "two downloads cannot overfill"
        );
        ix.cancel(60);
        assert!(ix.reserve(50).is_ok());
    }

    #[test]
    fn a_file_larger_than_the_cache_is_refused() {
        let mut ix = CacheIndex::new(100);
        assert_eq!(
            ix.reserve(101),
            Err(NoRoom::TooBig {
                size: 101,
                budget: 100
            })
        );
    }

    #[test]
    fn deltas_report_adds_and_removals_once() {
        let mut ix = CacheIndex::new(100);
        ix.insert("a", 10);
        ix.forget("a");
        ix.insert("b", 10);
        assert_eq!(
            ix.take_delta(),
            (
                vec!["a".to_string(), "b".to_string()],
                vec!["a".to_string()]
            )
        );
        assert_eq!(ix.take_delta(), (vec![], vec![]));
    }
}
