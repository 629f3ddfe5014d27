//! User ids for runs. Every run in progress has a uid of its own, never root and never
//! another run's, so runs cannot signal, trace or read each other's processes and files, and
//! a run owns nothing outside its own directories. A uid returns to the pool when its run
//! ends (its processes are all dead by then); the pool holds a uid per slot in practice.

use std::sync::{Arc, Mutex};

/// The first uid the sandbox lends unless told otherwise.
pub const DEFAULT_SANDBOX_UID_BASE: u32 = 60000;

/// How many uids the sandbox may lend at once: far more than runs at once.
pub const SANDBOX_UIDS: u32 = 1000;

/// The uids `base..base + count`, lent out one per run.
#[derive(Debug, Clone)]
pub struct UidPool {
    free: Arc<Mutex<Vec<u32>>>,
}

/// A uid lent to one run; back in the pool when dropped.
#[derive(Debug)]
pub struct UidLease {
    uid: u32,
    free: Arc<Mutex<Vec<u32>>>,
}

impl UidPool {
    pub fn new(base: u32, count: u32) -> UidPool {
        // Reversed, so the lowest uids are lent first and reused most (easier to read in ps).
        let free = (base..base.saturating_add(count)).rev().collect();
        UidPool {
            free: Arc::new(Mutex::new(free)),
        }
    }

    /// A uid no other run holds, if any is left.
    pub fn lease(&self) -> Option<UidLease> {
        let uid = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop()?;
        Some(UidLease {
            uid,
            free: self.free.clone(),
        })
    }
}

impl UidLease {
    pub fn uid(&self) -> u32 {
        self.uid
    }
}

impl Drop for UidLease {
    fn drop(&mut self) {
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_held_by_one_run_at_a_time_and_comes_back() {
        let pool = UidPool::new(60000, 2);
        let a = pool.lease().unwrap();
        let b = pool.lease().unwrap();
        assert_eq!((a.uid(), b.uid()), (60000, 60001));
        assert!(pool.lease().is_none(), "only two");
        drop(a);
        assert_eq!(pool.lease().unwrap().uid(), 60000);
    }
}
