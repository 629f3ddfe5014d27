//! The judge worker as a library; the binary (`main.rs`) only wires. The layers, as in the
//! scheduler (see `docs/ARCHITECTURE.md`):
//! - [`core`]: decisions without I/O (verdicts, the attempt ledger, the default checker);
//! - adapters: [`connection`] (the scheduler's feed and report stream), [`executor`] (one task
//!   per attempt), [`judge`] (the judging flow), [`cache`] (test data), [`sandbox`]
//!   (everything that isolates a run), [`resources`] (what the machine has free);
//! - [`startup`] and [`config`]: what `main` calls to build and start a worker.

pub mod attach;
pub mod backoff;
pub mod cache;
pub mod config;
pub mod connection;
pub mod core;
pub mod executor;
pub mod judge;
pub mod resources;
pub mod sandbox;
pub mod startup;

pub use startup::{
    prepare, start, start_prepared, Prepared, RunningWorker, StartError, WorkerOptions,
};
