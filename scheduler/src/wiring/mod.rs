//! Wiring: what `main` assembles a scheduler from. Its configuration (flags and TOML), the
//! running server (store, driver, services, listeners), TLS, and the data dir kept private.

/// The scheduler's flags and TOML file, every default written once.
pub mod config;
/// One scheduler per SQLite database: a lock beside it, naming its holder.
pub mod instance;
/// Several schedulers on one PostgreSQL: the lease, standing by, leading, stepping down.
pub mod leader;
/// The listening sockets, bound once and kept through changes of role and restarts.
pub mod listeners;
/// The data directory kept private to the scheduler's user.
pub mod private;
/// The running scheduler: recovery, driver, services and listeners assembled.
pub mod server;
/// A standby's ports: `UNAVAILABLE` and the leader's address on every call.
pub mod standby;
/// TLS: the server's certificate, the client CA, self-signed sets.
pub mod tls;
