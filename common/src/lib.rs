//! Generated gRPC code and small shared types.

/// Generated from `proto/judge/v1`.
pub mod pb {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("judge.v1");

    /// The wire's file descriptors, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/judge_descriptor.bin"));
}

pub mod auth;
pub mod channel;
pub mod config;
pub mod grading;
pub mod ident;
pub mod job_kind;
pub mod json;
pub mod limits;
pub mod logging;
pub mod pinned;
pub mod problem;
pub mod run_limits;
pub mod validator;
