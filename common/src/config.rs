//! Layered configuration for the binaries: command-line flags, then their environment
//! variables, then an optional TOML file, then the defaults.
//!
//! Each binary has one struct that is both its clap arguments and its TOML file (the same
//! field names), so a key means the same in both and each default is written once, in the
//! clap attribute that `--help` shows. Loading parses the flags with their defaults, then lets
//! the file replace every value that did not come from a flag or an environment variable, and
//! reads the result back into the struct, which refuses unknown keys and wrong types.

use std::collections::HashSet;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgMatches, Args};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A configuration that cannot be used; the message names the file, key or value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{key}: {message}")]
    Value { key: String, message: String },
}

impl ConfigError {
    /// A bad value of `key`.
    pub fn value(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Value {
            key: key.to_string(),
            message: message.into(),
        }
    }
}

/// Merges `file` under the values the user gave in `matches` (the matches `from_flags` was
/// parsed from); see the module documentation.
pub fn layered<T>(
    matches: &ArgMatches,
    from_flags: &T,
    file: Option<&Path>,
) -> Result<T, ConfigError>
where
    T: Args + Serialize + DeserializeOwned,
{
    let shown = |p: &Path| p.display().to_string();
    let mut merged = toml::Table::try_from(from_flags).map_err(|e| ConfigError::File {
        path: "(flags)".into(),
        message: e.to_string(),
    })?;
    let Some(path) = file else {
        return from_flags_again(merged, "(flags)");
    };
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: shown(path),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::File {
            path: shown(path),
            message: e.message().to_string(),
        })?;
    let flags: HashSet<String> = T::augment_args(clap::Command::new("config"))
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    for (key, value) in table {
        let from_user = flags.contains(&key)
            && matches!(
                matches.value_source(&key),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            );
        if !from_user {
            // Keys that are no field are refused when the table is read back.
            merged.insert(key, value);
        }
    }
    from_flags_again(merged, &shown(path))
}

fn from_flags_again<T: DeserializeOwned>(table: toml::Table, path: &str) -> Result<T, ConfigError> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::File {
            path: path.to_string(),
            message: e.message().to_string(),
        })
}

/// The effective configuration as TOML, for `--check-config`.
pub fn to_toml<T: Serialize>(config: &T) -> Result<String, ConfigError> {
    toml::to_string(config).map_err(|e| ConfigError::File {
        path: "(effective configuration)".into(),
        message: e.to_string(),
    })
}

/// A positive, finite number of seconds.
pub fn seconds(key: &str, s: f64) -> Result<std::time::Duration, ConfigError> {
    if !(s.is_finite() && s > 0.0 && s <= 1e9) {
        return Err(ConfigError::value(
            key,
            format!("must be a positive number of seconds, got {s}"),
        ));
    }
    Ok(std::time::Duration::from_secs_f64(s))
}

/// Zero or more seconds, finite.
pub fn seconds_or_zero(key: &str, s: f64) -> Result<std::time::Duration, ConfigError> {
    if s == 0.0 {
        return Ok(std::time::Duration::ZERO);
    }
    seconds(key, s)
        .map_err(|_| ConfigError::value(key, format!("must be zero or more seconds, got {s}")))
}
