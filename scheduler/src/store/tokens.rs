//! API tokens. Only a SHA-256 of each secret is stored; the secret is shown once at creation.

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
}

impl Store {
    pub async fn insert_token(&self, t: &TokenRecord) -> Result<()> {
        let res = sqlx::query(
            "INSERT INTO tokens (id, name, role, secret_sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.id)
        .bind(&t.name)
        .bind(t.role.as_str())
        .bind(&t.secret_sha256)
        .bind(t.created_at)
        .execute(self.pool())
        .await;
        match res {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("a token named {:?} already exists", t.name),
            )),
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    /// All tokens, revoked ones included, by name.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        let rows = sqlx::query(
            "SELECT id, name, role, secret_sha256, created_at, revoked_at FROM tokens ORDER BY name",
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
                })
            })
            .collect()
    }

    /// Revokes the token called `name`; an already revoked one stays as it was.
    pub async fn revoke_token(&self, name: &str, at: i64) -> Result<()> {
        let res =
            sqlx::query("UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE name = $2")
                .bind(at)
                .bind(name)
                .execute(self.pool())
                .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("token {name:?}")));
        }
        Ok(())
    }
}
