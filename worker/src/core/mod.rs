//! The worker's decisions, as plain code: no I/O, no tokio, no clock.
//!
//! - [`checker`]: the format's default output validator (token diff with its flags);
//! - [`verdict`]: one run's verdict from how it ended, and the submission's verdict folded from
//!   its tests' verdicts;
//! - [`grader`]: scoring problems: the walk over test groups and the default grader;
//! - [`interaction`]: an interactive test's verdict from how the submission and the
//!   interactor ended;
//! - [`usage`]: what a run used against its limits, in the words of a test's message;
//! - [`passes`]: whether a multi-pass test runs the submission again;
//! - [`resume`]: whether a broken download is tried again, and after what pause;
//! - [`ledger`]: which attempts the worker holds, and every update each has reported, so that
//!   a reconnect can re-send exactly what the scheduler may have missed.
//!
//! The adapters around it (the executor, the judging flow, the sandbox) do the I/O and ask
//! these modules what to do; their unit tests need neither root nor a scheduler.

pub mod checker;
pub mod grader;
pub mod interaction;
pub mod ledger;
pub mod passes;
pub mod resume;
pub mod usage;
pub mod verdict;
