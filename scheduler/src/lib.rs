//! The judge scheduler as a library: the scheduling core and the adapters around it, a line
//! per module below (the layers and a job's path: `docs/ARCHITECTURE.md`).
//! The binary (`main.rs`) only wires these together.

/// The application layer: one function per operation people ask for (submit, get, list,
/// watch, cancel, console, push, workers, tokens), with the admission rules; both edges
/// (gRPC and HTTP) call it.
pub mod app;
/// The scheduling core: a pure state machine, `Core::apply(event, now) -> effects`.
pub mod core;
/// The only owner of the core: batches inputs, persists effects, then sends them.
pub mod driver;
/// The HTTP side: JSON API, SSE, WebSocket console, dashboard, metrics, health.
pub mod http;
/// In-memory state shared by the services and the driver: the problem catalog, the token
/// cache, live consoles, the watch hub, counters and histograms.
pub mod live;
/// The gRPC services: translate messages to the application (people) and the driver
/// (workers), and check every caller.
pub mod service;
/// The database (SQLite or PostgreSQL through sqlx): the truth jobs are kept in.
pub mod store;
/// Wiring: configuration, the running server, TLS, the data dir's privacy.
pub mod wiring;
