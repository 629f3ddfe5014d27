//! Namespaces made once, at start, for every run to enter.
//!
//! `unshare` on a thread of its own changes only that thread, which then ends; the descriptor
//! of the new namespace, opened on that thread, keeps the namespace alive.

use std::io;
use std::os::fd::OwnedFd;

/// Unshares `flag` (a `CLONE_NEW*` namespace called `name` in `/proc/thread-self/ns/`) on a
/// new thread, runs `setup` there inside the new namespace, and returns the namespace.
pub fn on_own_thread<F>(flag: libc::c_int, name: &'static str, setup: F) -> Result<OwnedFd, String>
where
    F: FnOnce() -> Result<(), String> + Send + 'static,
{
    std::thread::spawn(move || {
        // SAFETY: plain syscall; it changes only this short-lived thread.
        if unsafe { libc::unshare(flag) } != 0 {
            return Err(format!(
                "new {name} namespace: {}",
                io::Error::last_os_error()
            ));
        }
        // Opened before `setup`, which may take /proc out of view.
        let path = format!("/proc/thread-self/ns/{name}");
        let ns = std::fs::File::open(&path)
            .map(OwnedFd::from)
            .map_err(|e| format!("{path}: {e}"))?;
        setup()?;
        Ok(ns)
    })
    .join()
    .map_err(|_| format!("the thread making the {name} namespace panicked"))?
}
