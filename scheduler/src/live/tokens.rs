//! Token issue and verification.
//!
//! A token reads `jdg_<id>_<secret>`. The id finds the stored record; the secret is checked by
//! comparing SHA-256 digests in constant time, so neither a database dump nor response timing
//! gives a usable token away.

use judge_common::priority::Priority;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::{Role, TokenRecord};

/// A freshly made token: the record to store and the text to show once.
pub fn issue(name: &str, role: Role, max_priority: Priority, now_ms: i64) -> (TokenRecord, String) {
    let id = hex::encode(rand::random::<[u8; 6]>());
    let secret = hex::encode(rand::random::<[u8; 24]>());
    let record = TokenRecord {
        id: id.clone(),
        name: name.to_string(),
        role,
        secret_sha256: hex::encode(Sha256::digest(secret.as_bytes())),
        created_at: now_ms,
        revoked: false,
        max_priority,
    };
    (record, format!("jdg_{id}_{secret}"))
}

/// Checks a token name: 1 to 64 characters, no spaces or control characters (it is shown
/// as the owner of jobs and printed beside the token).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || "._-@".contains(c))
    {
        return Err(format!(
            "token name {name:?} is not valid: use 1 to 64 letters, digits, '.', '_', '-' or '@'"
        ));
    }
    Ok(())
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub token_id: String,
    pub token_name: String,
    pub role: Role,
    /// The highest priority class its jobs may ask for.
    pub max_priority: Priority,
}

/// Why a token was refused. Deliberately vague towards the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing token: send `authorization: Bearer <token>`")]
    Missing,
    #[error("invalid or revoked token")]
    Invalid,
}

/// The tokens the scheduler accepts, refreshed from the store.
#[derive(Debug, Clone)]
pub struct TokenCache {
    inner: Arc<RwLock<HashMap<String, TokenRecord>>>,
    /// Bumped whenever a token leaves the set, so that long streams opened with it (watches,
    /// consoles) can end (see [`TokenCache::revoked`]).
    generation: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            inner: Arc::default(),
            generation: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

impl TokenCache {
    /// Whether the token with this id is (still) accepted.
    pub fn is_live(&self, token_id: &str) -> bool {
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        guard.contains_key(token_id)
    }

    /// Resolves once the token with this id is revoked (at once if it already is): what a
    /// stream opened with it races against, so that revoking a token ends everything it
    /// opened.
    pub fn revoked(
        &self,
        token_id: &str,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let cache = self.clone();
        let token_id = token_id.to_string();
        let mut changes = self.generation.subscribe();
        async move {
            while cache.is_live(&token_id) {
                if changes.changed().await.is_err() {
                    // The cache is gone with the scheduler: nothing will revoke it now.
                    std::future::pending::<()>().await;
                }
            }
        }
    }

    /// Replaces the cached set; returns the ids of tokens revoked (or deleted) since last time.
    pub fn replace(&self, tokens: Vec<TokenRecord>) -> Vec<String> {
        let fresh: HashMap<String, TokenRecord> = tokens
            .into_iter()
            .filter(|t| !t.revoked)
            .map(|t| (t.id.clone(), t))
            .collect();
        let mut guard = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = guard
            .keys()
            .filter(|id| !fresh.contains_key(*id))
            .cloned()
            .collect();
        *guard = fresh;
        drop(guard);
        if !gone.is_empty() {
            self.generation.send_modify(|g| *g += 1);
        }
        gone
    }

    /// Checks an `authorization` header value.
    pub fn verify(&self, header: Option<&str>) -> Result<Caller, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or(AuthError::Invalid)?
            .trim();
        let rest = token.strip_prefix("jdg_").ok_or(AuthError::Invalid)?;
        let (id, secret) = rest.split_once('_').ok_or(AuthError::Invalid)?;
        let guard = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let record = guard.get(id).ok_or(AuthError::Invalid)?;
        let presented = hex::encode(Sha256::digest(secret.as_bytes()));
        if presented
            .as_bytes()
            .ct_eq(record.secret_sha256.as_bytes())
            .into()
        {
            Ok(Caller {
                token_id: record.id.clone(),
                token_name: record.name.clone(),
                role: record.role,
                // An admin may ask for any class.
                max_priority: match record.role {
                    Role::Admin => Priority::Contest,
                    _ => record.max_priority,
                },
            })
        } else {
            Err(AuthError::Invalid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_until_revoked() {
        let cache = TokenCache::default();
        let (mut rec, text) = issue("w1", Role::Worker, Priority::Normal, 0);
        cache.replace(vec![rec.clone()]);
        let caller = cache.verify(Some(&format!("Bearer {text}"))).unwrap();
        assert_eq!(
            (caller.token_name.as_str(), caller.role),
            ("w1", Role::Worker)
        );
        // Same id, wrong secret.
        let forged = format!("Bearer jdg_{}_{}", rec.id, "0".repeat(48));
        assert_eq!(cache.verify(Some(&forged)), Err(AuthError::Invalid));
        assert_eq!(cache.verify(None), Err(AuthError::Missing));
        assert_eq!(
            cache.verify(Some(&text)),
            Err(AuthError::Invalid),
            "needs the Bearer prefix"
        );
        rec.revoked = true;
        assert_eq!(cache.replace(vec![rec]), vec![caller.token_id]);
        assert_eq!(
            cache.verify(Some(&format!("Bearer {text}"))),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn only_the_hash_of_the_secret_is_kept() {
        let (rec, text) = issue("a", Role::Admin, Priority::Normal, 0);
        let secret = text.rsplit('_').next().unwrap();
        assert!(!rec.secret_sha256.contains(secret));
        assert_eq!(rec.secret_sha256.len(), 64);
    }
}
