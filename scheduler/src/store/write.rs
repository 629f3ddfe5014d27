//! The one way the store writes: a transaction that holds the write lock from its start.
//!
//! SQLite lets one connection write at a time. A transaction opened with a plain `BEGIN`
//! (deferred) first reads, and asks for the write lock only at its first write; if another
//! connection committed in between, SQLite answers `SQLITE_BUSY` at once, without waiting for
//! the busy timeout, because the reader's snapshot is stale. So every write transaction here
//! begins with `BEGIN IMMEDIATE`: it waits for the lock (the connection's busy timeout) before
//! reading anything, and once it holds the lock no statement in it can be refused as busy.
//! A lock still not had after the busy timeout (another process, such as `judge-scheduler
//! token create`, holding it long) is asked for again, with a pause that grows, for up to
//! [`BUSY_PATIENCE`]: a busy database is waited for, never a reason to stop.
//!
//! A transaction that is dropped without [`WriteTx::commit`] (an error, a cancelled request)
//! closes its connection instead of returning it to the pool: closing rolls the transaction
//! back in the database whatever state the driver believed it was in, so no connection with
//! a half-finished transaction is ever used again.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection};

use super::{Backend, Result, Store, StoreError};

/// How long a write keeps asking for a lock the database says is busy before it gives up.
pub const BUSY_PATIENCE: Duration = Duration::from_secs(300);

/// An open write transaction. Derefs to the connection, so queries run on `&mut *tx`.
pub(crate) struct WriteTx {
    conn: PoolConnection<Any>,
    open: bool,
}

impl Store {
    /// Opens a write transaction holding the database's write lock (SQLite: `BEGIN
    /// IMMEDIATE`; PostgreSQL: `BEGIN`, whose row locks are taken as statements run).
    pub(crate) async fn write_tx(&self) -> Result<WriteTx> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            let mut conn = self.pool().acquire().await?;
            match sqlx::query(begin).execute(&mut *conn).await {
                Ok(_) => {
                    let mut tx = WriteTx { conn, open: true };
                    if let Some(term) = self.fence {
                        check_term(&mut tx, term).await?;
                    }
                    return Ok(tx);
                }
                Err(e) => {
                    // Whatever the connection's state is now, it is not to be trusted.
                    conn.close_on_drop();
                    let e = StoreError::from(e);
                    if !e.is_busy() || started.elapsed() >= BUSY_PATIENCE {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, "the database is busy; waiting for its write lock");
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(1));
        }
    }
}

/// The fence of a leader's write: the lease row locked `FOR SHARE` until the transaction
/// ends, and its term compared with ours. A takeover updates that row, so it waits for this
/// transaction, and any transaction after it sees the new term: a deposed leader's write
/// either commits before the new leader exists or fails here.
async fn check_term(tx: &mut WriteTx, term: i64) -> Result<()> {
    let row = sqlx::query("SELECT term FROM leader_lease WHERE id = 1 FOR SHARE")
        .fetch_one(&mut **tx)
        .await?;
    let now: i64 = super::col(&row, "leader_lease", "term")?;
    if now != term {
        return Err(StoreError::Deposed { term, now });
    }
    Ok(())
}

impl WriteTx {
    /// Commits. On an error the transaction is rolled back (its connection closed).
    pub(crate) async fn commit(mut self) -> Result<()> {
        sqlx::query("COMMIT").execute(&mut *self.conn).await?;
        self.open = false;
        Ok(())
    }
}

impl Drop for WriteTx {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}
