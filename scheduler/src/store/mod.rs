//! The durable store: SQLite (embedded default) or PostgreSQL, through one `sqlx::Any` pool.
//!
//! Queries are written once, in the SQL both databases accept (`$1` placeholders, `BIGINT`
//! values read as `i64`); migrations are per database in `migrations/sqlite` and
//! `migrations/postgres` and run at start.

/// One batch of the core's changes in one transaction.
mod batch;
/// Problem files in PostgreSQL, chunked, for every scheduler sharing it.
mod blob_rows;
/// Problem files on disk, stored once by SHA-256 (staged while a push is checked).
pub mod blobs;
/// Sweeps what no version or job needs any more (test data, old run input and output).
pub mod gc;
/// Job rows: decoded, listed, recovered.
mod jobs;
/// Rejudges: picking finished jobs, keeping their earlier judgings.
mod judgings;
/// What workers have ever offered.
mod languages;
/// The leader's lease (PostgreSQL): taking it, renewing it, handing it over.
mod lease;
/// Problem versions, their files and tests.
mod problems;
/// A run job's input and output, and their expiry.
mod run_io;
/// Tokens and worker names.
mod tokens;
/// The one way into a write transaction.
mod write;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use jobs::{state_str, AssignPayload, JobFilter, JobRecord, Payload, StoredTest};
pub use judgings::{PastJudging, RejudgeFilter};
pub use lease::LeaseView;
pub use problems::{ProblemRecord, StoredFile};
pub use tokens::{NameClaim, Role, TokenRecord};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(sqlx::Error),
    /// The database stayed locked by another writer for longer than the store waits
    /// ([`write::BUSY_PATIENCE`]); a single busy answer is waited out, never returned.
    #[error("the database stayed busy: {0}")]
    Busy(String),
    /// A write found no room on the disk. Unlike other failures this one passes: the
    /// scheduler refuses writes and carries on until there is room again.
    #[error("the disk is full: {0}")]
    DiskFull(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
    /// A file the store reads or writes beside the database (a blob's local copy).
    #[error("blob file: {0}")]
    File(std::io::Error),
    /// This scheduler led in `term`, and another has taken over since: it may write nothing
    /// more (see `store/lease.rs`).
    #[error("deposed: this scheduler led in term {term}, and the database's term is now {now}")]
    Deposed { term: i64, now: i64 },
}

impl From<sqlx::Error> for StoreError {
    /// Tells a full disk and a busy database by the database's own codes (SQLite's
    /// extended result codes, PostgreSQL's SQLSTATE), never by the message's words.
    fn from(e: sqlx::Error) -> Self {
        let code = match &e {
            sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
                return StoreError::DiskFull(e.to_string())
            }
            _ => None,
        };
        match code.as_deref() {
            // SQLITE_FULL; SQLITE_IOERR_SHMSIZE (the WAL index could not grow);
            // PostgreSQL's disk_full.
            Some("13" | "4874" | "53100") => StoreError::DiskFull(e.to_string()),
            // SQLITE_BUSY and its extended codes, SQLITE_LOCKED; PostgreSQL's
            // serialization_failure, deadlock_detected and lock_not_available.
            Some("5" | "261" | "517" | "773" | "6" | "262" | "40001" | "40P01" | "55P03") => {
                StoreError::Busy(e.to_string())
            }
            _ => StoreError::Db(e),
        }
    }
}

impl StoreError {
    /// Whether this failure is a full disk, which passes (see [`StoreError::DiskFull`]).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, StoreError::DiskFull(_))
    }

    /// Whether the database refused for a lock another connection holds.
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy(_))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A handle to the database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The term this store writes in, when it is a leader's on a shared database: every
    /// write transaction checks it first (`write.rs`).
    fence: Option<i64>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the database at `url`.
    pub async fn open(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let pool = match backend {
            Backend::Sqlite => {
                // The file is created on first start; WAL lets readers (GetJob, WatchJob)
                // run beside the one writer; a busy timeout rides out the `token` commands
                // writing from another process.
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10));
                // Touch the file through the sqlite driver so the options above apply once.
                let pool = sqlx::SqlitePool::connect_with(opts).await?;
                pool.close().await;
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::Executor::execute(&mut *conn, "PRAGMA busy_timeout = 10000")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // A transaction left open by a stopped process (SIGSTOP, a
                            // partition) would hold its lock on the lease row and block a
                            // takeover; the server ends it instead.
                            sqlx::Executor::execute(
                                &mut *conn,
                                "SET idle_in_transaction_session_timeout = 5000",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store {
            pool,
            backend,
            fence: None,
        })
    }

    /// Whether the database is PostgreSQL, which several schedulers may share (one leading).
    pub fn is_shared(&self) -> bool {
        self.backend == Backend::Postgres
    }

    /// This store, writing only while the database's lease is still in `term`: a write
    /// transaction after another scheduler took over fails with [`StoreError::Deposed`].
    pub fn fenced(mut self, term: i64) -> Store {
        self.fence = Some(term);
        self
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Bumps and returns the boot epoch, so session ids of this run never repeat old ones.
    pub async fn next_epoch(&self) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query("SELECT value FROM meta WHERE key = 'epoch'")
            .fetch_optional(&mut *tx)
            .await?;
        let epoch = match row {
            Some(r) => r.try_get::<i64, _>(0)? + 1,
            None => 1,
        };
        if epoch == 1 {
            sqlx::query("INSERT INTO meta (key, value) VALUES ('epoch', $1)")
                .bind(epoch)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("UPDATE meta SET value = $1 WHERE key = 'epoch'")
                .bind(epoch)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(epoch as u64)
    }

    /// The last stored boot epoch (0 before the first start).
    pub async fn epoch(&self) -> Result<u64> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = 'epoch'")
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => u64::try_from(col::<i64>(&r, "meta", "value")?).unwrap_or(0),
            None => 0,
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Reads a column, turning a type mismatch into a `Corrupt` error naming the table.
pub(crate) fn col<'r, T>(row: &'r AnyRow, table: &'static str, name: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name).map_err(|e| StoreError::Corrupt {
        table,
        detail: format!("{name}: {e}"),
    })
}
