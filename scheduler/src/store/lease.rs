//! The leader's lease, on PostgreSQL: one row (`leader_lease`) with a term, its holder, the
//! addresses clients are sent to, and when it runs out.
//!
//! Time here is the database's (`now()`), never a scheduler's, so the schedulers' clocks
//! need not agree. A leader counts its lease from when it *began* asking for it, on its own
//! monotonic clock (`core/lease.rs`); the database counts from a moment after that, so the
//! leader always believes its lease ends before the database says it does.
//!
//! These statements are the fence itself, so they do not go through `write_tx` (which checks
//! the term): each is one short transaction that gives up on a busy row after a second
//! rather than wait behind a stopped leader's transaction.

use super::{col, Result, Store};

/// The lease as a standby sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    /// Grows at every takeover; 0 before the first leader.
    pub term: i64,
    pub holder: String,
    /// The leader's gRPC URL, as clients should dial it.
    pub address: String,
    /// The leader's HTTP URL.
    pub http_address: String,
    /// Milliseconds until the lease runs out (negative: it has).
    pub remaining_ms: i64,
}

impl Store {
    /// The lease row now.
    pub async fn lease(&self) -> Result<LeaseView> {
        let row = sqlx::query(
            "SELECT term, holder, address, http_address, \
             CAST(EXTRACT(EPOCH FROM (expires_at - now())) * 1000 AS BIGINT) AS remaining_ms \
             FROM leader_lease WHERE id = 1",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(LeaseView {
            term: col(&row, "leader_lease", "term")?,
            holder: col(&row, "leader_lease", "holder")?,
            address: col(&row, "leader_lease", "address")?,
            http_address: col(&row, "leader_lease", "http_address")?,
            remaining_ms: col(&row, "leader_lease", "remaining_ms")?,
        })
    }

    /// Takes the lease if it has run out (or was handed over): the new term, or `None` while
    /// another holds it.
    pub async fn take_lease(
        &self,
        holder: &str,
        address: &str,
        http_address: &str,
        lease_ms: u64,
    ) -> Result<Option<i64>> {
        let mut conn = self.pool().acquire().await?;
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        let taken = async {
            sqlx::query("SET LOCAL lock_timeout = 1000")
                .execute(&mut *conn)
                .await?;
            let row = sqlx::query(
                "UPDATE leader_lease SET term = term + 1, holder = $1, address = $2, \
                 http_address = $3, expires_at = now() + CAST($4 AS FLOAT8) * interval '1 millisecond' \
                 WHERE id = 1 AND expires_at <= now() RETURNING term",
            )
            .bind(holder)
            .bind(address)
            .bind(http_address)
            .bind(lease_ms as f64)
            .fetch_optional(&mut *conn)
            .await?;
            sqlx::query("COMMIT").execute(&mut *conn).await?;
            Ok::<_, super::StoreError>(row)
        }
        .await;
        match taken {
            Ok(Some(row)) => Ok(Some(col(&row, "leader_lease", "term")?)),
            Ok(None) => Ok(None),
            Err(e) => {
                // Rolled back by closing: the connection's state is unknown.
                conn.close_on_drop();
                Err(e)
            }
        }
    }

    /// Renews the lease of `term`: `false` if it is no longer ours.
    pub async fn renew_lease(&self, term: i64, holder: &str, lease_ms: u64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE leader_lease SET expires_at = now() + CAST($3 AS FLOAT8) * interval '1 millisecond' \
             WHERE id = 1 AND term = $1 AND holder = $2",
        )
        .bind(term)
        .bind(holder)
        .bind(lease_ms as f64)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands the lease of `term` over at once (a clean shutdown): a standby may take it at
    /// its next look.
    pub async fn release_lease(&self, term: i64, holder: &str) -> Result<()> {
        sqlx::query(
            "UPDATE leader_lease SET expires_at = now() - interval '1 second' \
             WHERE id = 1 AND term = $1 AND holder = $2",
        )
        .bind(term)
        .bind(holder)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}
