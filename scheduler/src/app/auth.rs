//! Who may call what: the one check every gRPC call and every HTTP request goes through
//! before any operation runs. What a caller may then see of a job is decided per operation
//! ([`super::jobs`]), always from the caller this check returned.

use super::AppError;
use crate::live::tokens::{AuthError, Caller, TokenCache};
use crate::store::Role;

/// Who may call the worker service.
pub const WORKERS: &[Role] = &[Role::Worker, Role::Admin];
/// Who may call the judge service and the HTTP API.
pub const PEOPLE: &[Role] = &[Role::Submitter, Role::Admin];
/// Who may push problems and drain workers.
pub const ADMINS: &[Role] = &[Role::Admin];

/// The caller an `authorization` header (`Bearer <token>`) names, if its role is one of
/// `allowed`.
pub fn authorize(
    tokens: &TokenCache,
    header: Option<&str>,
    allowed: &[Role],
) -> Result<Caller, AppError> {
    let caller = tokens.verify(header).map_err(|e| match e {
        AuthError::Missing | AuthError::Invalid => AppError::Unauthenticated(e.to_string()),
    })?;
    if !allowed.contains(&caller.role) {
        return Err(AppError::Forbidden(format!(
            "a {} token may not call this service",
            caller.role.as_str()
        )));
    }
    Ok(caller)
}

/// The jobs a caller may see: an admin every job, anyone else only the jobs they submitted.
pub fn visible_owner(who: &Caller) -> Option<&str> {
    match who.role {
        Role::Admin => None,
        _ => Some(who.token_name.as_str()),
    }
}
