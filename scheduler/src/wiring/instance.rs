//! One scheduler per SQLite database. Two schedulers on one file would each believe its own
//! memory of the queue and hand the same job out twice, so `serve` holds an exclusive lock on
//! a file beside the database for as long as it runs, and a second `serve` refuses to start,
//! naming the first (its pid, host and address, written into the lock file). The kernel drops
//! the lock when the holder dies, however it dies: a crashed scheduler never blocks the next.
//! The command-line tools (`token create`, `gc`, ...) do not take it. PostgreSQL needs no
//! such file: schedulers there share the database on purpose.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Why the lock could not be had.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error(
        "{path} is in use by another judge-scheduler ({holder}); stop it first, or give this \
         one a --data-dir of its own"
    )]
    InUse { path: String, holder: String },
    #[error("cannot lock {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Held while the scheduler runs; dropping it releases the database.
#[derive(Debug)]
pub struct InstanceLock {
    file: Flock<std::fs::File>,
    path: PathBuf,
}

/// The database file of a `sqlite:` URL (`None`: not SQLite, or in memory).
fn sqlite_path(database_url: &str) -> Option<&Path> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| Path::new(path))
}

impl InstanceLock {
    /// Locks the database of `database_url` for this process, if it is a SQLite file.
    pub fn acquire(database_url: &str) -> Result<Option<InstanceLock>, InstanceError> {
        let Some(db) = sqlite_path(database_url) else {
            return Ok(None);
        };
        let mut name = db.file_name().unwrap_or_default().to_os_string();
        name.push(".scheduler-lock");
        let path = db.with_file_name(name);
        let io = |source| InstanceError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "it has not said who it is yet".into());
                return Err(InstanceError::InUse {
                    path: db.display().to_string(),
                    holder,
                });
            }
            Err((_, errno)) => return Err(io(errno.into())),
        };
        let mut lock = InstanceLock { file, path };
        lock.describe("starting");
        Ok(Some(lock))
    }

    /// Says in the lock file who holds it and `what` it is doing (where it listens), for the
    /// message of a second scheduler. Best effort: the lock is what counts.
    pub fn describe(&mut self, what: &str) {
        let host = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "this host".into());
        let text = format!("pid {} on {host}, {what}\n", std::process::id());
        let file: &mut std::fs::File = &mut self.file;
        let written = file
            .set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(text.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot describe the scheduler in its lock file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sqlite_files_are_locked() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/judge/judge.db"),
            Some(Path::new("/var/lib/judge/judge.db"))
        );
        assert_eq!(
            sqlite_path("sqlite://data/judge.db?mode=rwc"),
            Some(Path::new("data/judge.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://judge@db/judge"), None);
    }

    #[test]
    fn a_second_lock_on_one_database_is_refused_naming_the_first_until_it_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}/judge.db", dir.path().display());
        let mut first = InstanceLock::acquire(&url)
            .expect("free")
            .expect("a sqlite file is locked");
        first.describe("listening on 127.0.0.1:7070");
        let refused = InstanceLock::acquire(&url).expect_err("held");
        let text = refused.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id()))
                && text.contains("listening on 127.0.0.1:7070"),
            "{text}"
        );
        drop(first);
        assert!(InstanceLock::acquire(&url).expect("free again").is_some());
    }
}
