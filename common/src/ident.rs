//! The one rule for name-like identifiers (problem ids, worker names, job types, language
//! ids), shared by the scheduler, which refuses anything else, and the worker's config,
//! which refuses it before connecting.

/// `Ok` if `value` is 1 to 64 letters, digits, '.', '_' or '-', not starting with '.';
/// otherwise what is wrong with it.
pub fn check(value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && !value.starts_with('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not valid: use 1 to 64 letters, digits, '.', '_' or '-'"
        ))
    }
}
