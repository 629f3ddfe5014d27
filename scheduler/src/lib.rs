//! The judge scheduler as a library: the scheduling core and the adapters around it, a line
//! per module below (the layers and a job's path: `docs/ARCHITECTURE.md`).
//! The binary (`main.rs`) only wires these together.

/// Problem files on disk, stored once by SHA-256 (staged while a push is checked).
pub mod blobs;
/// The one cache of problem versions: newest version per problem, specs, files, worst cases.
pub mod catalog;
/// The scheduler's flags and TOML file, one struct, every default written once.
pub mod config;
/// Live consoles: where a client's relay meets the `Attach` stream its worker dials.
pub mod consoles;
/// The scheduling core: a pure state machine, `Core::apply(event, now) -> effects`.
pub mod core;
/// The only owner of the core: batches inputs, persists effects, then sends them.
pub mod driver;
/// Sweeps what the store no longer needs (old versions, blobs, expired run input/output).
pub mod gc;
/// The HTTP side: JSON API, SSE, WebSocket console, dashboard, metrics, health.
pub mod http;
/// Histograms the driver and services record (scraped through `/metrics`).
pub mod metrics;
/// The data dir kept private: umask, directory and file modes.
pub mod private;
/// A pushed package's own programs built once before it is stored.
pub mod program_check;
/// Rebuilding the core from the store, at start and after a full disk.
pub mod recovery;
/// Wiring: the store, driver, services and listeners of a running scheduler.
pub mod server;
/// The gRPC services: translate the wire to the driver and store, check callers.
pub mod service;
/// The database (SQLite or PostgreSQL through sqlx): the truth jobs are kept in.
pub mod store;
/// Job counts by state, kept as the driver commits (for `/metrics`).
pub mod tally;
/// TLS: server certificates, client certificates, the self-signed command.
pub mod tls;
/// API tokens: hashed, compared in constant time, cached, revocation watched.
pub mod tokens;
/// Committed job events fanned out to watchers.
pub mod watch;
