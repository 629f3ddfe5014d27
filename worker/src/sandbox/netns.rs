//! Network namespaces for runs: one per run in progress, never shared by two runs at once.
//!
//! Everything that lives in a network namespace (abstract Unix sockets, ports on loopback)
//! is then private to the run that made it, so two runs at once cannot reach each other
//! through the network stack. Each namespace is empty (only a loopback device, down). They
//! are made on demand, the first time that many runs are in progress at once, and reused:
//! entering a prepared namespace costs one `setns`, while making one per run would cost far
//! more and, when many are torn down, stall the kernel's cleanup. A namespace goes back to
//! the pool only when its run has ended, and with it every socket the run made.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

/// The pool.
#[derive(Debug, Default)]
pub struct NetnsPool {
    free: Arc<Mutex<Vec<OwnedFd>>>,
}

/// A namespace lent to one run; back in the pool when dropped.
#[derive(Debug)]
pub struct NetnsLease {
    fd: Option<OwnedFd>,
    free: Arc<Mutex<Vec<OwnedFd>>>,
}

/// A new empty network namespace.
fn make() -> Result<OwnedFd, String> {
    crate::sandbox::namespace::on_own_thread(libc::CLONE_NEWNET, "net", || Ok(()))
}

impl NetnsPool {
    /// A pool with `ready` namespaces made now (more are made when needed).
    pub fn new(ready: usize) -> Result<NetnsPool, String> {
        let free = (0..ready).map(|_| make()).collect::<Result<Vec<_>, _>>()?;
        Ok(NetnsPool {
            free: Arc::new(Mutex::new(free)),
        })
    }

    /// A namespace no run in progress holds.
    pub fn lease(&self) -> std::io::Result<NetnsLease> {
        let pooled = self.free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let fd = match pooled {
            Some(fd) => fd,
            None => make().map_err(std::io::Error::other)?,
        };
        Ok(NetnsLease {
            fd: Some(fd),
            free: self.free.clone(),
        })
    }

    /// Namespaces waiting in the pool.
    pub fn idle(&self) -> usize {
        self.free.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl NetnsLease {
    /// The namespace, to pass to the run.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_ref().map_or(-1, AsRawFd::as_raw_fd)
    }
}

impl Drop for NetnsLease {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            self.free.lock().unwrap_or_else(|p| p.into_inner()).push(fd);
        }
    }
}
