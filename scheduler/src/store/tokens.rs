//! API tokens. Only a SHA-256 of each secret is stored; the secret is shown once at creation.

use judge_common::priority::{Priority, UnknownPriority};
use sqlx::Row;

use super::{col, Result, Store, StoreError};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reaches only the worker service.
    Worker,
    /// Submits and reads.
    Submitter,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Worker => "worker",
            Role::Submitter => "submitter",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Role, String> {
        match s {
            "worker" => Ok(Role::Worker),
            "submitter" => Ok(Role::Submitter),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?}: use worker, submitter or admin"
            )),
        }
    }
}

/// A stored token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of the secret part.
    pub secret_sha256: String,
    pub created_at: i64,
    pub revoked: bool,
    /// The highest priority class its jobs may ask for (an admin's may ask for any).
    pub max_priority: Priority,
}

impl Store {
    pub async fn insert_token(&self, t: &TokenRecord) -> Result<()> {
        self.insert_tokens(std::slice::from_ref(t)).await
    }

    /// Stores every token or, if any name is taken, none.
    pub async fn insert_tokens(&self, tokens: &[TokenRecord]) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for t in tokens {
            let res = sqlx::query(
                "INSERT INTO tokens (id, name, role, secret_sha256, created_at, max_priority) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&t.id)
            .bind(&t.name)
            .bind(t.role.as_str())
            .bind(&t.secret_sha256)
            .bind(t.created_at)
            .bind(t.max_priority.as_str())
            .execute(&mut *tx)
            .await;
            match res {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::Conflict(format!(
                        "a token named {:?} already exists; no token was made",
                        t.name
                    )))
                }
                other => other.map(|_| ())?,
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// All tokens, revoked ones included, by name.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, role, secret_sha256, created_at, revoked_at, max_priority FROM tokens \
             ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let role: String = col(r, "tokens", "role")?;
                Ok(TokenRecord {
                    id: col(r, "tokens", "id")?,
                    name: col(r, "tokens", "name")?,
                    role: role.parse().map_err(|detail| StoreError::Corrupt {
                        table: "tokens",
                        detail,
                    })?,
                    secret_sha256: col(r, "tokens", "secret_sha256")?,
                    created_at: col(r, "tokens", "created_at")?,
                    revoked: r.try_get::<Option<i64>, _>("revoked_at")?.is_some(),
                    max_priority: col::<String>(r, "tokens", "max_priority")?
                        .parse()
                        .map_err(|e: UnknownPriority| StoreError::Corrupt {
                            table: "tokens",
                            detail: e.to_string(),
                        })?,
                })
            })
            .collect()
    }

    /// Revokes the token called `name`; an already revoked one stays as it was.
    pub async fn revoke_token(&self, name: &str, at: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let res =
            sqlx::query("UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE name = $2")
                .bind(at)
                .bind(name)
                .execute(&mut *tx)
                .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("token {name:?}")));
        }
        tx.commit().await
    }
}

/// Who holds a worker name after a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameClaim {
    /// The caller's token holds it (it did already, or it was free).
    Ours,
    /// Another live token holds it.
    Taken,
}

impl Store {
    /// Claims a worker name for a token. A name belongs to the token that first registered
    /// it, until `forget_worker_name`; a name whose token was revoked or deleted is free.
    pub async fn claim_worker_name(
        &self,
        name: &str,
        token_id: &str,
        at: i64,
    ) -> Result<NameClaim> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO worker_names (name, token_id, claimed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(token_id)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(
            "SELECT w.token_id AS holder, \
               (SELECT COUNT(*) FROM tokens t WHERE t.id = w.token_id AND t.revoked_at IS NULL) AS live \
             FROM worker_names w WHERE w.name = $1",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        let holder: String = col(&row, "worker_names", "holder")?;
        let live: i64 = col(&row, "worker_names", "live")?;
        let claim = if holder == token_id {
            NameClaim::Ours
        } else if live == 0 {
            sqlx::query("UPDATE worker_names SET token_id = $1, claimed_at = $2 WHERE name = $3")
                .bind(token_id)
                .bind(at)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            NameClaim::Ours
        } else {
            NameClaim::Taken
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Frees a worker name, so that any worker token may register it; `false` if no token
    /// held it.
    pub async fn forget_worker_name(&self, name: &str) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let gone = sqlx::query("DELETE FROM worker_names WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone > 0)
    }
}
