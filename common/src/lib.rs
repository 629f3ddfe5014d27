//! Generated gRPC code and small shared types.

/// Generated from `proto/judge/v1`.
pub mod pb {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("judge.v1");

    /// The wire's file descriptors, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/judge_descriptor.bin"));
}

/// The bearer token header, added to every call.
pub mod auth;
/// Dialing the scheduler: TLS settings, pinned certificates, keep-alives.
pub mod channel;
/// Layered configuration: flags, environment, TOML file, defaults.
pub mod config;
/// The bounds of a live console (terminal size, input and output messages).
pub mod console_bounds;
/// Several schedulers, one leading: a channel that follows the leader.
pub mod failover;
/// The default grader's flags, parsed at push and by the worker.
pub mod grading;
/// Identifiers (problem ids, worker names) checked the same way everywhere.
pub mod ident;
/// The job kinds: judge, run, console.
pub mod job_kind;
/// The JSON shapes of jobs and events, shared by the HTTP API and judgectl.
pub mod json;
/// The ranges of a problem's limits, checked at push and by the worker.
pub mod limits;
/// Log setup: `RUST_LOG` filters, JSON lines by flag.
pub mod logging;
/// A certificate verifier that accepts given certificates and asks webpki for the rest.
pub mod pinned;
/// Priority classes: contest, normal, bulk.
pub mod priority;
/// The known-answer probe a quarantined worker runs after its cool-down.
pub mod probe;
/// The problem package model: manifest, test groups, programs, settings files.
pub mod problem;
/// A run job's limits against the scheduler's maxima.
pub mod run_limits;
/// The default output validator's flags.
pub mod validator;
