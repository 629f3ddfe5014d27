//! The durable store: SQLite (embedded default) or PostgreSQL, through one `sqlx::Any` pool.
//!
//! Queries are written once, in the SQL both databases accept (`$1` placeholders, `BIGINT`
//! values read as `i64`); migrations are per database in `migrations/sqlite` and
//! `migrations/postgres` and run at start.

mod batch;
mod jobs;
mod languages;
mod problems;
mod tokens;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use jobs::{AssignPayload, JobRecord, StoredTest};
pub use problems::{ProblemRecord, StoredFile};
pub use tokens::{NameClaim, Role, TokenRecord};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
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
                    .connect(url)
                    .await?
            }
        };
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store { pool })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Bumps and returns the boot epoch, so session ids of this run never repeat old ones.
    pub async fn next_epoch(&self) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
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
