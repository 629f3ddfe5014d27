//! Wiring: what `main` assembles a scheduler from. Its configuration (flags and TOML), the
//! running server (store, driver, services, listeners), TLS, and the data dir kept private.

pub mod config;
pub mod private;
pub mod server;
pub mod tls;
