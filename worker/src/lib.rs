//! The judge worker as a library; the binary (`main.rs`) only wires. The layers, as in the
//! scheduler (see `docs/ARCHITECTURE.md`):
//! - [`core`]: decisions without I/O (verdicts, the attempt ledger, the default checker);
//! - adapters: [`connection`] (the scheduler's feed and report stream), [`executor`] (one task
//!   per attempt), [`judge`] (the judging flow), [`cache`] (test data), [`sandbox`]
//!   (everything that isolates a run), [`resources`] (what the machine has free);
//! - [`startup`] and [`config`]: what `main` calls to build and start a worker.

/// Dials a console's `Attach` stream with the current session's key.
pub mod attach;
/// Reconnect delays: growing, capped, jittered.
pub mod backoff;
/// Content-addressed test data within a disk budget, pinned while used.
pub mod cache;
/// The worker's client of the scheduler (one channel, its token on every call).
pub mod client;
/// The worker's flags and TOML file, one struct, every default written once.
pub mod config;
/// One session: the scheduler's feed and the report stream; reconnects.
pub mod connection;
/// Decisions without I/O: verdicts, grading, interaction, passes, usage, the ledger.
pub mod core;
/// One task per attempt, its cancel switch, its updates through the ledger.
pub mod executor;
/// Judging, run jobs and consoles: compile, run, check, report.
pub mod judge;
/// What the machine has free, for the scheduler's routing.
pub mod resources;
/// Everything that isolates a run: cgroups, namespaces, rootfs, seccomp, uids.
pub mod sandbox;
/// What `main` calls to prepare (before the runtime) and start a worker.
pub mod startup;

pub use startup::{
    prepare, start, start_prepared, Prepared, RunningWorker, StartError, WorkerOptions,
};
