//! Tokens: issued (the secret shown once, only its hash stored), listed (never a secret),
//! revoked (a live scheduler notices within its token cache's refresh and ends the token's
//! sessions, watches and consoles). The scheduler's `token` commands call these on the
//! database directly, so they work whether or not a scheduler is running.

use super::AppError;
use crate::live::tokens::{check_name, issue};
use crate::store::{Role, Store, TokenRecord};
use judge_common::priority::Priority;

/// Issues a token of `role` for each name, whose jobs may ask for classes up to
/// `max_priority`, all stored in one transaction: a name taken already refuses them all.
/// Each record with the token's text, to be shown once.
pub async fn issue_tokens(
    store: &Store,
    names: &[String],
    role: Role,
    max_priority: Priority,
    now_ms: i64,
) -> Result<Vec<(TokenRecord, String)>, AppError> {
    for n in names {
        check_name(n).map_err(AppError::Invalid)?;
    }
    let issued: Vec<_> = names
        .iter()
        .map(|n| issue(n, role, max_priority, now_ms))
        .collect();
    let records: Vec<_> = issued.iter().map(|(r, _)| r.clone()).collect();
    store.insert_tokens(&records).await?;
    Ok(issued)
}

/// Every token, by name; never a secret.
pub async fn list_tokens(store: &Store) -> Result<Vec<TokenRecord>, AppError> {
    Ok(store.tokens().await?)
}

/// Revokes the token `name` (again is no error).
pub async fn revoke_token(store: &Store, name: &str, now_ms: i64) -> Result<(), AppError> {
    Ok(store.revoke_token(name, now_ms).await?)
}
